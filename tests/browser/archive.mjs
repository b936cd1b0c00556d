// Loads the archive page of a running `tomoe serve`, types into the object column's search box
// and checks that only matching rows remain; saves screenshots.
//
// Usage: node archive.mjs BASE_URL YEAR SEARCH SCREENSHOT_DIR
// Prints one JSON line: {"before": [...objects], "after": [...objects], "info": "..."}.
import { chromium } from 'playwright-core';

const [base, year, search, shots] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const external = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.origin !== new URL(base).origin) external.push(r.url());
  });
  await page.goto(`${base}/archive/${year}`);
  // Wait for the first server-side page of rows.
  await page.waitForSelector('#exposures tbody tr td a');
  const objects = async () =>
    page.$$eval('#exposures tbody tr', (rows) => rows.map((r) => r.children[2]?.textContent ?? ''));
  const before = await objects();
  await page.screenshot({ path: `${shots}/archive-before.png`, fullPage: true });
  await page.fill('input.colsearch[data-col="object"]', search);
  // The table redraws from the server; wait until every row matches.
  await page.waitForFunction(
    (s) => {
      const rows = [...document.querySelectorAll('#exposures tbody tr')];
      return rows.length > 0 && rows.every((r) => (r.children[2]?.textContent ?? '').toLowerCase().includes(s));
    },
    search.toLowerCase(),
    { timeout: 15000 },
  );
  const after = await objects();
  const info = await page.textContent('.dt-info');
  await page.screenshot({ path: `${shots}/archive-search.png`, fullPage: true });
  console.log(JSON.stringify({ before, after, info, external }));
} finally {
  await browser.close();
}
