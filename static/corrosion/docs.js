/* The API docs page: Redoc (served from this site, as this script is) renders the OpenAPI document.
 *
 * This script runs before Redoc's bundle, and keeps the page within the site's
 * Content-Security-Policy and off every other origin:
 * - Redoc writes <style> elements as it loads, before it can be given the page's nonce: each
 *   <style> a script adds gets this script's nonce. (Styles in the HTML itself get none.)
 * - Redoc's sidebar shows a logo from Redoc's CDN and has no option to turn it off: an image from
 *   another origin gets an empty src, which fails at once without a request, and Redoc then drops
 *   the logo.
 * The fonts are the system's (REDOC_UI_SETTINGS), not a font CDN's.
 */
(function () {
  "use strict";
  var nonce = document.currentScript.nonce;

  function foreign(value) {
    var url;
    try {
      url = new URL(String(value), document.baseURI);
    } catch (error) {
      return false;
    }
    return (url.protocol === "http:" || url.protocol === "https:") && url.origin !== location.origin;
  }

  ["appendChild", "insertBefore"].forEach(function (method) {
    var original = Node.prototype[method];
    Node.prototype[method] = function (node) {
      if (node instanceof HTMLStyleElement && !node.nonce) {
        node.nonce = nonce;
      }
      return original.apply(this, arguments);
    };
  });

  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true,
    enumerable: src.enumerable,
    get: src.get,
    set: function (value) {
      src.set.call(this, foreign(value) ? "" : value);
    },
  });

  document.addEventListener("DOMContentLoaded", function () {
    var container = document.getElementById("redoc-container");
    var options = JSON.parse(document.getElementById("redoc-options").textContent);
    options.nonce = nonce; // and Redoc stamps the styles it writes once running
    Redoc.init(container.dataset.schemaUrl, options, container);
  });
})();
