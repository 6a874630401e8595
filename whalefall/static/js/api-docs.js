/* The API reference: swagger-ui on the server's own OpenAPI document. The online validator
 * (validator.swagger.io) is off, so nothing leaves this host; "Try it out" requests carry the
 * console's session cookie and its CSRF header, as the page scripts' writes do. */
(function () {
  "use strict";

  WF.ready(function () {
    var box = document.getElementById("api-docs");
    if (!box || !window.SwaggerUIBundle) return;
    var csrf = document.querySelector('meta[name="csrf-token"]');
    window.SwaggerUIBundle({
      url: box.dataset.url,
      domNode: box,
      validatorUrl: null,
      deepLinking: false,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      requestInterceptor: function (request) {
        if (csrf && request.method && request.method.toUpperCase() !== "GET") {
          request.headers["X-CSRFToken"] = csrf.getAttribute("content");
        }
        return request;
      },
    });
  });
})();
