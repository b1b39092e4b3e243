package web

// testCatalog is the scope catalog of the tests' installations: every
// scope their keys carry, grantable by members, with no approval. The
// catalog's own rules are tested with catalogs made for the purpose
// (scopes_test.go).
var testCatalog = []string{
	"read", "write", "read:orders", "write:orders", "read:invoices", "write:invoices",
	"admin:reconciliation", "webhooks",
}
