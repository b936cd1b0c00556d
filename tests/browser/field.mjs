// Opens the light-curve field page of a running `tomoe serve`, reads where every source mark is
// drawn on the screen, hovers one Gaia source, clicks it and waits for the object page's plotted
// light curve; saves screenshots.
//
// Usage: node field.mjs BASE_URL EXP_ID DET_ID SCREENSHOT_DIR
// Prints one JSON line: {"image": {...}, "marks": [...], "tip": "...", "object_url": "...",
// "plotted": N, "plot_points": N, "inst_title": "...", "external": [...]}.
import { chromium } from 'playwright-core';

const [base, exp, det, shots] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const external = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.origin !== new URL(base).origin) external.push(r.url());
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/lc/field/${exp}/${det}`);
  await page.waitForSelector('body[data-field-ready="1"]');
  await page.waitForFunction(() => {
    const i = document.getElementById('field-image');
    return i && !i.hidden && i.complete && i.naturalWidth > 0;
  });
  const image = await page.$eval('#field-image', (i) => {
    const r = i.getBoundingClientRect();
    return { left: r.left, top: r.top, width: r.width, height: r.height, naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight };
  });
  // The drawn mark is the group's second child (the first is the transparent hit disc).
  const marks = await page.$$eval('#overlay g.src', (gs) => gs.map((g) => {
    const m = g.children[1];
    const r = m.getBoundingClientRect();
    return {
      kind: g.classList.contains('gaia') ? 'gaia' : 'nongaia',
      shape: m.tagName,
      stroke: m.getAttribute('stroke'),
      object: g.getAttribute('data-object'),
      x: Number(g.getAttribute('data-x')),
      y: Number(g.getAttribute('data-y')),
      cx: r.left + r.width / 2,
      cy: r.top + r.height / 2,
    };
  }));
  await page.screenshot({ path: `${shots}/field.png`, fullPage: true });
  // Hover then click the brightest-looking Gaia source (the first one).
  const target = marks.find((m) => m.kind === 'gaia');
  let tip = '';
  let objectUrl = '';
  let plotted = 0;
  let plotPoints = 0;
  let instTitle = '';
  if (target) {
    await page.mouse.move(target.cx, target.cy);
    await page.waitForSelector('#tip:not([hidden])');
    tip = await page.textContent('#tip');
    await Promise.all([page.waitForURL(/\/lc\/object\//), page.mouse.click(target.cx, target.cy)]);
    objectUrl = page.url();
    try { await page.waitForSelector('#lc-plot[data-points]', { timeout: 20000 }); } catch (e) { await page.screenshot({ path: `${shots}/object-failed.png`, fullPage: true }); throw new Error(`no plot on ${page.url()}: ${errors.join('; ')}`); }
    await page.waitForSelector('#lc-plot .scatterlayer .point');
    plotted = await page.$$eval('#lc-plot .scatterlayer .point', (p) => p.length);
    plotPoints = Number(await page.getAttribute('#lc-plot', 'data-points'));
    await page.screenshot({ path: `${shots}/object.png`, fullPage: true });
    await page.selectOption('#lc-mag', 'inst');
    await page.waitForFunction(() => (document.querySelector('#lc-plot .ytitle')?.textContent ?? '').includes('instrumental'));
    instTitle = await page.textContent('#lc-plot .ytitle');
  }
  console.log(JSON.stringify({ image, marks, tip, object_url: objectUrl, plotted, plot_points: plotPoints, inst_title: instTitle, external, errors }));
} finally {
  await browser.close();
}
