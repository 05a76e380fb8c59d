"""Lead scoring: rules with decaying points, and a learned, calibrated, explainable model.

`decay`, `features` and `model` are pure (NumPy / scikit-learn, no Django); `rules` evaluates
rule conditions on lead facts; `facts` reads those facts from the database; `services` writes
scores, history and trained models.
"""
