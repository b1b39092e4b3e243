// Starts the API reference page's renderer (Swagger UI, vendored in
// static/vendor/swagger-ui). It is a file of its own because the CSP
// allows no inline script; the document's URL comes from the page.
(function () {
  "use strict";

  function start() {
    var node = document.getElementById("api-reference");
    if (!node) {
      return;
    }
    if (typeof window.SwaggerUIBundle !== "function") {
      node.textContent = "The reference renderer did not load. The OpenAPI document is linked above.";
      return;
    }
    window.SwaggerUIBundle({
      domNode: node,
      url: node.getAttribute("data-openapi-url"),
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      // Operation ids are what the generated clients and docs/api.md name.
      displayOperationId: true,
      docExpansion: "list",
      defaultModelsExpandDepth: 0,
      deepLinking: true,
      // Swagger UI would otherwise send the document to validator.swagger.io
      // and show its badge: nothing leaves this server.
      validatorUrl: null,
      // A token typed into "Authorize" lives only in this tab.
      persistAuthorization: false,
      tryItOutEnabled: false
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
