"""Analytics: RFM, Pareto, CLV, cohorts and churn over the purchase history."""
