// Prints vitest's JSON reports (one or more files, summed) as one plain closing line: "N passed, N failed" (", N skipped" when some were).
// A test file that failed as a whole (a beforeAll hook, an import) leaves its tests unrun: vitest reports them as
// skipped, but they did not pass, so they count as failed here, and the file is named with its error.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

const Report = z.object({
  numPassedTests: z.number(),
  numFailedTests: z.number(),
  numPendingTests: z.number(),
  numTodoTests: z.number(),
  testResults: z.array(
    z.object({
      name: z.string(),
      status: z.string(),
      message: z.string().optional(),
      assertionResults: z.array(z.object({ status: z.string() })),
    }),
  ),
});
const files = process.argv.length > 2 ? process.argv.slice(2) : ['.state/vitest.json'];
const reports = files.map((f) => {
  try {
    return Report.parse(JSON.parse(readFileSync(f, 'utf8')));
  } catch (e) {
    // A run that wrote no report (it failed to start) counts as one failed file.
    return { numPassedTests: 0, numFailedTests: 0, numPendingTests: 0, numTodoTests: 0, testResults: [{ name: f, status: 'failed', message: `no report: ${String(e).slice(0, 200)}`, assertionResults: [] }] };
  }
});
const r = {
  numPassedTests: reports.reduce((n, x) => n + x.numPassedTests, 0),
  numFailedTests: reports.reduce((n, x) => n + x.numFailedTests, 0),
  numPendingTests: reports.reduce((n, x) => n + x.numPendingTests, 0),
  numTodoTests: reports.reduce((n, x) => n + x.numTodoTests, 0),
  testResults: reports.flatMap((x) => x.testResults),
};

let unrun = 0;
const brokenFiles: string[] = [];
for (const file of r.testResults) {
  if (file.status !== 'failed') continue;
  const notRun = file.assertionResults.filter((a) => a.status !== 'passed' && a.status !== 'failed').length;
  const failedTests = file.assertionResults.filter((a) => a.status === 'failed').length;
  if (failedTests > 0 && notRun === 0) continue; // an ordinary failure, counted by vitest
  // Tests that never ran; a file that failed with none to run (an import error, an afterAll hook) counts once.
  unrun += notRun > 0 ? notRun : failedTests === 0 ? 1 : 0;
  const why = (file.message ?? '').split('\n')[0]?.slice(0, 300) ?? '';
  brokenFiles.push(`${path.relative(process.cwd(), file.name)}${why ? `: ${why}` : ''}`);
}
const failed = r.numFailedTests + unrun;
const skipped = Math.max(0, r.numPendingTests + r.numTodoTests - unrun);
for (const f of brokenFiles) process.stdout.write(`file failed: ${f}\n`);
process.stdout.write(`${r.numPassedTests} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}\n`);
