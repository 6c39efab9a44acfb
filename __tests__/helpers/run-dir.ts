/** The environment variable naming this test run's own temporary folder (set by the global setup, read by the teardown and the helpers). */
export const RUN_TMP_ENV = "FANOUT_TEST_RUN_TMPDIR";
