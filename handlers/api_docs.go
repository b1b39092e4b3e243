package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/views"
)

// OpenAPIDocument is the path of the management API's OpenAPI 3.1
// document; package web serves it (with .yaml and -3.0.json twins).
const OpenAPIDocument = "/api/v1/openapi"

// APIDocs is GET /docs/api: the management API's reference page. It is
// open to anyone, signed in or not, as the document it renders is: the
// document describes the API, and every call it describes needs a token.
func (h *Handler) APIDocs(c echo.Context) error {
	m := views.APIDocsPage{
		Layout:      h.layout(c, "API reference", ""),
		DocumentURL: OpenAPIDocument + ".json",
		Downloads: []views.APIDocsDownload{
			{Label: "openapi.json (3.1)", URL: OpenAPIDocument + ".json"},
			{Label: "openapi.yaml", URL: OpenAPIDocument + ".yaml"},
			{Label: "openapi-3.0.json", URL: OpenAPIDocument + "-3.0.json"},
		},
	}
	m.Stylesheets = []string{"vendor/swagger-ui/swagger-ui.css", "css/api-docs.css"}
	m.Scripts = []string{"vendor/swagger-ui/swagger-ui-bundle.js", "js/api-docs.js"}
	return render(c, http.StatusOK, views.APIDocs(m))
}
