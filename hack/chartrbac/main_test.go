package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTemplateCurrent fails when the checked-in template is not what the
// generator writes from today's rules.
func TestTemplateCurrent(t *testing.T) {
	want, err := Template()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "charts", "urumi", "templates", "rbac.yaml")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what hack/chartrbac generates from the rules of urumi rbac: run go generate ./charts", path)
	}
}

func TestTemplateHasNoPlaceholder(t *testing.T) {
	tpl, err := Template()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range substitutions {
		if strings.Contains(string(tpl), s.placeholder) {
			t.Errorf("placeholder %s left in the template", s.placeholder)
		}
		if !strings.Contains(string(tpl), s.action) {
			t.Errorf("template never uses %s", s.action)
		}
	}
}
