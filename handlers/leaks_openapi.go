package handlers

import (
	"net/http"
	"reflect"

	"github.com/danielgtaylor/huma/v2"
)

// ReportLeakBody is what POST /api/v1/keys/report-leak takes.
type ReportLeakBody struct {
	Key string `json:"key" doc:"The leaked key (kw_…). Whatever is sent, the answer is the same." example:"kw_…"`
	URL string `json:"url,omitempty" maxLength:"500" doc:"Where the key was found (optional): kept with the report and shown to the key's owner, never followed." example:"https://gist.github.com/someone/abc123"`
}

// ReportLeakAnswer is its one answer.
type ReportLeakAnswer struct {
	Received bool `json:"received" doc:"Always true: the answer never says whether the key existed."`
}

// documentReportLeak describes POST /api/v1/keys/report-leak in the
// OpenAPI document. The route itself is a plain Echo handler
// (APIReportLeak), not a huma operation: its answer must be the same bytes
// for a real key, garbage JSON and an empty body, and huma would refuse
// the last two with its own errors before any handler ran. The document
// still lists it, since it is part of the public contract; GitHub's
// endpoint is not (its format is GitHub's, documented in docs/security.md).
func documentReportLeak(api huma.API) {
	reg := api.OpenAPI().Components.Schemas
	problem := reg.Schema(reflect.TypeFor[Problem](), true, "")
	api.OpenAPI().AddOperation(&huma.Operation{
		OperationID: "report-leak", Method: http.MethodPost, Path: "/api/v1/keys/report-leak",
		Summary: "Report a leaked key", Tags: []string{"Keys"},
		Description: "For anyone who finds a Keyward key where it should not be (a public repository, a paste, a log): " +
			"no credential needed. A key that exists is revoked at once (or disabled, if an admin chose so), its owner " +
			"alerted and the report audited. The answer is always 202 {\"received\": true}, for a real key, an unknown " +
			"or malformed one, or a body that is not JSON, and takes at least a fixed time (250 ms by default), so it " +
			"never tells whether a string is a live key. Each address may report 10 keys at once and one every 6 " +
			"seconds after that.",
		// An empty requirement: no credential (the key reported is not one).
		Security: []map[string][]string{{}},
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
			"application/json": {Schema: reg.Schema(reflect.TypeFor[ReportLeakBody](), true, "")},
		}},
		Responses: map[string]*huma.Response{
			"202": {Description: "Received (whatever was sent).", Content: map[string]*huma.MediaType{
				"application/json": {Schema: reg.Schema(reflect.TypeFor[ReportLeakAnswer](), true, "")},
			}},
			"429": {Description: "Too many reports from this address.",
				Headers: map[string]*huma.Param{"Retry-After": {Description: "Seconds to wait before reporting again.",
					Required: true, Schema: &huma.Schema{Type: "integer", Minimum: new(float64)}}},
				Content: map[string]*huma.MediaType{"application/problem+json": {Schema: problem}}},
		},
	})
}
