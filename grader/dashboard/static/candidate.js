// A candidate's per-question scores against each question's distribution (every graded answer to it):
// bars for the candidate, the mean and median as markers, the middle of the histogram as context.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var font = { family: "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, WenQuanYi Micro Hei, sans-serif", size: 12 };
  var qs = data.questions;
  var ids = qs.map(function (q) { return q.id; });
  var labels = qs.map(function (q) { return q.label || q.id; });
  Plotly.newPlot("scores", [
    { type: "bar", name: "该考生", x: ids, y: qs.map(function (q) { return q.score; }), customdata: labels,
      marker: { color: qs.map(function (q) { return q.state === "reviewed" ? "#d9822b" : "#3e7cb1"; }) },
      hovertemplate: "%{x} %{customdata}：%{y:.1f} 分<extra></extra>" },
    { type: "scatter", mode: "markers", name: "题库均值", x: ids, y: qs.map(function (q) { return q.mean; }),
      marker: { symbol: "line-ew-open", size: 26, color: "#102a43", line: { width: 3 } },
      customdata: qs.map(function (q) { return q.count; }),
      hovertemplate: "%{x} 均值 %{y:.1f}（n=%{customdata}）<extra></extra>" },
    { type: "scatter", mode: "markers", name: "题库中位数", x: ids, y: qs.map(function (q) { return q.median; }),
      marker: { symbol: "diamond", size: 9, color: "#9aa5b1" }, hovertemplate: "%{x} 中位数 %{y:.1f}<extra></extra>" }
  ], {
    margin: { l: 50, r: 10, t: 10, b: 45 }, font: font, bargap: 0.35,
    yaxis: { title: { text: "分数" }, range: [0, 100] }, legend: { orientation: "h", y: -0.2 }
  }, { displayModeBar: false, responsive: true });
  document.body.dataset.chartsReady = "true";
})();
