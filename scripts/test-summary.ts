// Prints vitest's JSON report as one plain closing line: "N passed, N failed" (", N skipped" when some were).
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const Report = z.object({ numPassedTests: z.number(), numFailedTests: z.number(), numPendingTests: z.number(), numTodoTests: z.number() });
const r = Report.parse(JSON.parse(readFileSync(process.argv[2] ?? '.state/vitest.json', 'utf8')));
const skipped = r.numPendingTests + r.numTodoTests;
process.stdout.write(`${r.numPassedTests} passed, ${r.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
