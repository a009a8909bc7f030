"""Candidates rather than answers: interviews (several answers sent as one), scorecards and rankings."""
