/** The retention values CloudWatch Logs accepts (PutRetentionPolicy). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** Throws unless `days` is a retention CloudWatch Logs accepts; the message names the field. */
export function assertRetentionDays(field: string, days: number): void {
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(days)) {
    throw new Error(`${field} (${days}) must be one of the values CloudWatch Logs accepts: ${LOG_RETENTION_DAYS.join(", ")}`);
  }
}
