"""Pure numerical customer analytics on NumPy arrays: RFM, Pareto, CLV, cohorts, churn.

No Django here: the query layer turns the database into arrays, these modules turn arrays into
numbers, and the tests check those numbers against published figures and hand calculations.

Conventions shared by every module: one array element per customer (or per order row); customer
indexes are dense positions 0..n-1 (``np.unique(ids, return_inverse=True)`` makes them), days and
months are integers on any consecutive numbering; results are aligned with the inputs.

    rfm      recency / frequency / monetary measures, quintile scores, named segments
    pareto   revenue concentration: Pareto curve, top-20 % share, Gini, value tiers
    clv      BG/NBD + Gamma-Gamma: fitting, expected purchases, P(alive), CLV, holdout check
    cohorts  acquisition-month cohorts: retention and revenue matrices
    churn    churn-risk flags with reason codes
    data     the CDNOW reference data set
"""
