// Kept for importers outside the core: the interface lives in src/core/logger.ts.
export * from '../core/logger.ts';
