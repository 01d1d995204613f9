-- 0011: what the judge did in a run.
--
-- judge_errors counts the instances of LLM-judged metrics that ended in
-- error (the judge failed after its retries, answered nonsense twice, the
-- run's budget ran out, or the judge was given up on for the rest of the
-- run); judge_error is the first of their errors, clipped. A run with
-- judge errors is shown as degraded. judge_usage holds the tokens and cost
-- of the run's judge requests as JSON (model.JudgeUsage), NULL when the
-- run sent none. Runs finished before this migration read as not degraded
-- and without judge usage.
ALTER TABLE run_results ADD COLUMN judge_errors INTEGER NOT NULL DEFAULT 0;
ALTER TABLE run_results ADD COLUMN judge_error TEXT NOT NULL DEFAULT '';
ALTER TABLE run_results ADD COLUMN judge_usage BLOB;
