// The notes page of examples/web as the browser tests drive it.

// notesPage returns what the page shows (its event log, status, notes, and
// which parts are visible) and act, which clicks one of its buttons — even
// a hidden one, as a stale tab's script would — and waits until the page
// logs a line starting with until, or shows a refusal.
export function notesPage(page) {
  const view = async () =>
    page.evaluate(() => ({
      log: [...document.querySelectorAll("#log li")].map((li) => li.textContent),
      status: document.getElementById("status").textContent,
      owner: document.getElementById("owner").textContent,
      notes: [...document.querySelectorAll("#notes li")].map((li) => li.textContent),
      loggedIn: !document.getElementById("session").hidden,
      verifying: !(document.getElementById("verify")?.hidden ?? true),
    }));
  const act = async (id, until) => {
    const before = (await view()).log.length;
    await page.evaluate((id) => {
      document.getElementById("status").textContent = "";
      document.getElementById(id).click();
    }, id);
    await page.waitForFunction(
      ([before, until]) => {
        const lines = [...document.querySelectorAll("#log li")].slice(before).map((li) => li.textContent);
        return lines.some((l) => l.startsWith(until)) || document.getElementById("status").textContent.startsWith("Refused");
      },
      [before, until],
    );
    return view();
  };
  return { view, act };
}
