package provision

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
)

// schemaCache compiles each values schema once. Helm compiles the chart's
// schema on every install and upgrade, and urumi did again for every
// request that sets values: compiling its patterns into regular
// expressions was about 2.5 % of serve's CPU at scale, and 5 % of what it
// allocated. The zero value is ready to use; a nil one compiles each time.
type schemaCache struct {
	mu       sync.Mutex
	compiled map[[sha256.Size]byte]*jsonschema.Schema
}

// schemaURL is where Helm files the schema it compiles; its validation
// errors name it.
const schemaURL = "file:///values.schema.json"

// compile compiles schemaJSON as Helm does, without Helm's loaders for
// file and http references: urumi's charts have none, and a schema that
// reached for one would fail to compile rather than read the machine's
// files or the network.
func (c *schemaCache) compile(schemaJSON []byte) (*jsonschema.Schema, error) {
	key := sha256.Sum256(schemaJSON)
	if c != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		if s, ok := c.compiled[key]; ok {
			return s, nil
		}
	}
	// As Helm reads it: numbers kept exact.
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, fmt.Errorf("read the values schema: %w", err)
	}
	compiler := jsonschema.NewCompiler()
	compiler.UseLoader(jsonschema.SchemeURLLoader{})
	if err := compiler.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("read the values schema: %w", err)
	}
	s, err := compiler.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("compile the values schema: %w", err)
	}
	if c != nil {
		if c.compiled == nil {
			c.compiled = map[[sha256.Size]byte]*jsonschema.Schema{}
		}
		c.compiled[key] = s
	}
	return s, nil
}

// validate checks values against schemaJSON. Its error reads as Helm's
// (util.ValidateAgainstSingleSchema) does.
func (c *schemaCache) validate(schemaJSON []byte, values map[string]any) (err error) {
	// As Helm's: a schema the validator chokes on is an error, not a crash.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unable to validate schema: %v", r)
		}
	}()
	s, err := c.compile(schemaJSON)
	if err != nil {
		return err
	}
	if err := s.Validate(values); err != nil {
		return schemaError{strings.TrimPrefix(err.Error(), "jsonschema validation failed with '"+schemaURL+"#'\n") + "\n"}
	}
	return nil
}

// schemaError is a failed validation, worded as Helm words it.
type schemaError struct{ msg string }

func (e schemaError) Error() string { return e.msg }

// passes says whether vals, coalesced with ch's defaults, pass ch's values
// schema, as Helm's install and upgrade would check: when they do, Helm
// may skip its own check. When they do not, or the chart has subcharts,
// Helm checks as it always did, and reports what fails in its words.
func (c *schemaCache) passes(ch *chart.Chart, vals map[string]any) bool {
	if len(ch.Schema) == 0 || len(ch.Dependencies()) > 0 {
		return false
	}
	full, err := util.CoalesceValues(ch, vals)
	return err == nil && c.validate(ch.Schema, full) == nil
}
