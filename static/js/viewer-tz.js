// The browser's timezone in the viewer_tz cookie, so the server shows every time in it
// (builder/middleware.py, ViewerTimezoneMiddleware). Loaded by every page (base.html).
(() => {
  let zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    return; // no Intl: times stay in UTC, labelled as such
  }
  const current = document.cookie.split("; ").find((pair) => pair.startsWith("viewer_tz="));
  if (zone && current !== `viewer_tz=${encodeURIComponent(zone)}`) {
    document.cookie = `viewer_tz=${encodeURIComponent(zone)}; path=/; max-age=31536000; SameSite=Lax`;
  }
})();
