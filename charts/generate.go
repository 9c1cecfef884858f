package charts

// The urumi chart's RBAC and admission policy template is generated from
// the rules "urumi rbac" prints.
//go:generate go run ../hack/chartrbac -o urumi/templates/rbac.yaml
