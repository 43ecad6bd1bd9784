//! PromQL functions' arithmetic, separate from the evaluator's bookkeeping.
