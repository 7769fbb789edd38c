/** Paths the edge and the data Workers agree on; their own module so the edge imports no data Worker code. */

/** Readiness probes of the edge land here (signed like every other request). */
export const DATA_READINESS_PATH = '/__data/readyz';
