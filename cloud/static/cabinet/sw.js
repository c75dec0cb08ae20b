// The cabinet's service worker (scope /my/). The shell (CSS, scripts, icons) is kept at
// install; the home page, the QR page and the balance (state.json) are fetched from the
// network first and kept, so without a network the last known copies open; the pages show
// their age themselves (cabinet.js reads their data-as-of). A redirect to the log-in page
// (log-out, a session ended elsewhere) drops what was kept.
"use strict";
var SHELL = "aq-cabinet-shell-v1";
var PAGES = "aq-cabinet-pages-v1";
var SHELL_FILES = [
  "/static/cabinet/cabinet.css",
  "/static/cabinet/cabinet.js",
  "/static/forms.js",
  "/static/cabinet/icon-192.png",
  "/static/cabinet/icon-512.png"
];
var KEPT = ["/my/", "/my/qr", "/my/state.json"];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL).then(function (cache) { return cache.addAll(SHELL_FILES); }));
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

function keep(request, response) {
  if (response.redirected && new URL(response.url).pathname.indexOf("/my/login") === 0) {
    return caches.delete(PAGES).then(function () { return response; });
  }
  if (!response.ok) { return response; }
  var copy = response.clone();
  return caches.open(PAGES).then(function (cache) {
    return cache.put(request, copy);
  }).then(function () { return response; });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (KEPT.indexOf(url.pathname) >= 0) {
    event.respondWith(fetch(request).then(function (response) {
      return keep(new Request(url.pathname), response);
    }).catch(function () {
      return caches.match(url.pathname, {cacheName: PAGES}).then(function (hit) {
        return hit || Response.error();
      });
    }));
  } else if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(caches.match(request).then(function (hit) { return hit || fetch(request); }));
  }
});
