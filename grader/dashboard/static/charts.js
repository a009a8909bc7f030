// Overview charts, drawn by plotly.js (served from the installed plotly package) from the page's JSON.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var font = { family: "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, WenQuanYi Micro Hei, sans-serif", size: 12 };
  var config = { displayModeBar: false, responsive: true };
  var edges = data.bin_edges;
  var labels = edges.slice(0, -1).map(function (lo, i) { return lo + "–" + edges[i + 1]; });

  // A count axis: whole numbers only (plotly would put ticks at 0.5 for small counts), from zero.
  function countAxis(counts) {
    var max = Math.max.apply(null, counts.concat([1]));
    var step = Math.max(1, Math.ceil(max / 5));
    return { rangemode: "tozero", tickmode: "linear", tick0: 0, dtick: step, tickformat: "d",
             range: [0, Math.ceil(max / step) * step * 1.05] };
  }

  var grid = document.getElementById("histograms");
  data.questions.forEach(function (q) {
    var div = document.createElement("div");
    div.className = "histogram";
    div.dataset.question = q.id;
    grid.appendChild(div);
    Plotly.newPlot(div, [{
      type: "bar", x: labels, y: q.histogram, marker: { color: "#3e7cb1" },
      hovertemplate: "%{x} 分：%{y} 人<extra></extra>"
    }], {
      title: { text: q.id + "　n=" + q.count.toLocaleString("zh-CN") + "　均值 " + q.mean.toFixed(1) +
               "　中位数 " + q.median.toFixed(1), font: { size: 13 } },
      margin: { l: 40, r: 10, t: 36, b: 40 }, font: font, bargap: 0.08,
      xaxis: { tickangle: -45, tickfont: { size: 10 } }, yaxis: countAxis(q.histogram)
    }, config);
  });

  var questions = Array.from(new Set(data.agreement.map(function (p) { return p.q; }))).sort();
  var traces = questions.map(function (qid) {
    var points = data.agreement.filter(function (p) { return p.q === qid; });
    return {
      type: "scatter", mode: "markers", name: qid,
      x: points.map(function (p) { return p.grader; }), y: points.map(function (p) { return p.final; }),
      marker: { size: 7, opacity: 0.7 },
      hovertemplate: qid + "：机评 %{x:.1f} → 审核 %{y:.1f}<extra></extra>"
    };
  });
  traces.push({ type: "scatter", mode: "lines", x: [0, 100], y: [0, 100], name: "完全一致",
                line: { dash: "dot", color: "#9aa5b1" }, hoverinfo: "skip" });
  Plotly.newPlot("agreement", traces, {
    margin: { l: 50, r: 10, t: 10, b: 45 }, font: font,
    xaxis: { title: { text: "机评分" }, range: [0, 100] }, yaxis: { title: { text: "审核员最终分" }, range: [0, 100] },
    legend: { orientation: "h", y: -0.2 }
  }, config);

  var reviewed = data.questions.filter(function (q) { return q.mad !== null; });
  Plotly.newPlot("deltas", [{
    type: "bar", x: reviewed.map(function (q) { return q.id; }), y: reviewed.map(function (q) { return q.mad; }),
    name: "平均 |审核 − 机评|", marker: { color: "#d9822b" },
    hovertemplate: "%{x}：平均改分 %{y:.1f} 分<extra></extra>"
  }, {
    type: "scatter", mode: "markers", yaxis: "y2", x: reviewed.map(function (q) { return q.id; }),
    y: reviewed.map(function (q) { return q.share_overridden * 100; }), name: "被改分比例 %",
    marker: { color: "#102a43", size: 9 }, hovertemplate: "%{x}：%{y:.1f}% 被改分<extra></extra>"
  }], {
    margin: { l: 50, r: 50, t: 10, b: 45 }, font: font,
    yaxis: { title: { text: "平均改分幅度（分）" }, rangemode: "tozero" },
    yaxis2: { title: { text: "被改分比例" }, overlaying: "y", side: "right", range: [0, 100], ticksuffix: "%", tickmode: "linear", tick0: 0, dtick: 20,
              showgrid: false },
    legend: { orientation: "h", y: -0.2 }
  }, config);
  document.body.dataset.chartsReady = "true";
})();
