// The browser's timezone in the viewer_tz cookie, so the server shows every time in it
// (builder/middleware.py, ViewerTimezoneMiddleware). Loaded by every page (base.html).
(function () {
  "use strict";

  let zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    return; // no Intl: times stay in UTC, labelled as such
  }
  const cookie = `viewer_tz=${encodeURIComponent(zone)}`;
  const current = document.cookie.split("; ").find((pair) => pair.startsWith("viewer_tz="));
  if (zone && current !== cookie) {
    document.cookie = `${cookie}; path=/; max-age=31536000; SameSite=Lax`;
  }
})();
