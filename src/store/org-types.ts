/**
 * Per-organisation state of issue 11 (second half) behind one small interface:
 * routing preferences, feedback on answered requests (per-cluster error
 * evidence per model), task-classification feedback, and the activity log.
 * Every method takes the organisation first; no method reads across
 * organisations (the log purge is housekeeping, by age only).
 *
 * Embedded implementation: src/store/sqlite-org.ts (reads on the calling
 * thread, writes through the writer thread). A Redis one (issue 12) implements
 * the same interface: preferences and feedback as hashes per org, the log as a
 * capped stream.
 */

/** One preference: its key and its value as JSON text. */
export interface PreferenceRow {
  readonly key: string;
  readonly value: string;
  /** Unix milliseconds. */
  readonly updatedAt: number;
}

/**
 * Feedback evidence for one model in one cluster of the router profile: `n`
 * scored answers whose error (1 - score) sums to `errSum`. The posterior is
 * computed from it and the profile's prior (src/api/org-state.ts).
 */
export interface ModelFeedbackRow {
  readonly cluster: number;
  readonly model: string;
  readonly n: number;
  readonly errSum: number;
  readonly updatedAt: number;
}

/** POST /v1/auto/feedback as stored. */
export interface TaskFeedbackRow {
  readonly prompt: string;
  readonly classifiedTask: string;
  readonly correct: boolean;
  readonly confidence: number | null;
  readonly suggestedTask: string | null;
  readonly createdAt: number;
}

/** One routed request (GET /v1/org/logs). Times in unix milliseconds. */
export interface ActivityRow {
  readonly requestId: string;
  readonly org: string;
  readonly at: number;
  readonly endpoint: string;
  readonly modelRequested: string | null;
  readonly modelSelected: string | null;
  readonly modelExecuted: string | null;
  readonly reason: string | null;
  /** Models tried, in order, comma-separated ('' when none). */
  readonly fallbackChain: string;
  readonly cluster: number | null;
  readonly promptTokens: number | null;
  readonly completionTokens: number | null;
  readonly costUsd: number | null;
  readonly latencyMs: number;
  readonly status: number;
  readonly cacheHit: boolean;
}

/** A stored log row with its sequence number (the export's cursor). */
export interface StoredActivity extends ActivityRow {
  readonly seq: number;
}

/** A per-thread log path (OrgStore.openLogSink). */
export interface LogSink {
  /** Queues a row; false when there is no room (the writer is behind or gone): the row was not taken. */
  push(row: ActivityRow): boolean;
  /** Resolves when what was pushed before the call is committed (or given up on, and counted). */
  flush(): Promise<void>;
  /** flush(), then the sink is forgotten by the writer. */
  close(): Promise<void>;
  /** Rows committed, and rows given up by a failed insert. */
  readonly written: number;
  readonly dropped: number;
}

export interface LogQuery {
  /** Unix ms, inclusive. */
  readonly since?: number;
  /** Unix ms, exclusive. */
  readonly until?: number;
  /** Rows with seq > after (the previous page's next_cursor). */
  readonly after?: number;
  readonly limit: number;
}

/** Per-model usage of an organisation over a period (preference suggestions). */
export interface ModelUsage {
  readonly model: string;
  readonly requests: number;
  readonly errors: number;
  readonly costUsd: number;
}

export interface OrgStore {
  preferences(org: string): Promise<PreferenceRow[]>;
  setPreference(org: string, key: string, value: string, at: number): Promise<void>;
  /** true if it existed. */
  deletePreference(org: string, key: string): Promise<boolean>;

  modelFeedback(org: string): Promise<ModelFeedbackRow[]>;
  /** Adds one scored answer (error in [0, 1]); returns the cell after the update (atomic in the writer). */
  addModelFeedback(org: string, cluster: number, model: string, err: number, at: number): Promise<ModelFeedbackRow>;
  /** Deletes the organisation's evidence (all of it, or one model's, or one model in one cluster); returns rows deleted. */
  resetModelFeedback(org: string, model?: string, cluster?: number): Promise<number>;

  addTaskFeedback(org: string, row: TaskFeedbackRow): Promise<void>;
  /** Newest first. */
  taskFeedback(org: string, limit: number): Promise<TaskFeedbackRow[]>;

  /** One write for a batch (the activity logger's flush); rows may belong to several organisations. */
  appendLogs(rows: readonly ActivityRow[]): Promise<void>;
  /**
   * A log path that costs the caller no message per batch (the embedded
   * store: a shared-memory ring its writer thread drains every `flushMs`,
   * src/store/log-ring.ts). Absent: the activity logger batches rows into
   * appendLogs (Redis).
   */
  openLogSink?(flushMs: number): LogSink;
  /** Oldest first within the window. */
  logs(org: string, q: LogQuery): Promise<StoredActivity[]>;
  logByRequest(org: string, requestId: string): Promise<StoredActivity | undefined>;
  usage(org: string, since: number): Promise<ModelUsage[]>;
  /** Deletes log rows older than `before` (unix ms), every organisation: retention. */
  purgeLogs(before: number): Promise<number>;

  /**
   * A number that changes whenever the organisation's preferences, model
   * feedback or task feedback change. Present in a store shared by several
   * replicas (Redis): a replica that may have missed an invalidation checks it
   * before re-reading (src/api/org-state.ts). Absent in the embedded store
   * (one process: the shared generation counter sees every change).
   */
  generation?(org: string): Promise<number>;
}
