// Opens /docs in headless Chromium, checks the operations are listed, runs
// "Try it out" on GET /api/v1/products and expects a 200 in the page.
// Usage: node docs_browser.mjs http://127.0.0.1:8000 screenshot.png
import { createRequire } from "node:module";
const require = createRequire(new URL("../../docs/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const base = process.argv[2];
const shot = process.argv[3] || "docs.png";
const fail = (msg) => { console.error("FAIL: " + msg); process.exit(1); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  await page.goto(base + "/docs", { waitUntil: "networkidle" });
  await page.waitForSelector(".opblock", { timeout: 15000 });
  const ops = await page.$$eval(".opblock-summary-path", (els) => els.map((e) => e.textContent.trim()));
  for (const p of ["/api/v1/products", "/api/v1/orders", "/api/v1/customers", "/health"]) {
    if (!ops.some((o) => o.replace(/\u200b/g, "") === p)) fail(`operation ${p} not shown (saw ${ops.length})`);
  }
  console.log(`docs list ${ops.length} operations`);

  const op = page.locator("#operations-products-list_products");
  await op.locator(".opblock-summary").click();
  await op.locator("button.try-out__btn").click();
  await op.locator("button.execute").click();
  const status = op.locator(".live-responses-table tbody .response-col_status").first();
  await status.waitFor({ timeout: 15000 });
  const code = (await status.textContent()).trim();
  // The shot shows the answer: status code and the start of the JSON body.
  await status.scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollBy(0, -200));
  await page.screenshot({ path: shot, fullPage: false });
  const body = await op.locator(".live-responses-table tbody .response-col_description").first().textContent();
  if (code === "200" && !body.includes('"items"')) fail("Try it out: 200 without a product page in the body");
  if (code !== "200") fail(`Try it out answered ${code}`);
  console.log(`Try it out on GET /api/v1/products: ${code}; screenshot ${shot}`);
} finally {
  await browser.close();
}
