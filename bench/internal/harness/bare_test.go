package harness

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	RunBareIfAsked() // the test binary started as TestBare's server
	os.Exit(m.Run())
}

// TestBare starts the bare server in a process of its own and checks that
// it answers what it was given, compressed to a client that asks for it.
func TestBare(t *testing.T) {
	ctx := context.Background()
	plain := []byte(`{"stores":[{"owner":"a"}]}`)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(plain)
	_ = w.Close()

	b, err := StartBare(ctx, t.TempDir(), plain, gz.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	if got, err := Raw(ctx, b.URL, "", false); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("plain: %q, %v", got, err)
	}
	if got, err := Raw(ctx, b.URL, "", true); err != nil || !bytes.Equal(got, gz.Bytes()) {
		t.Fatalf("gzip: %q, %v", got, err)
	}
	check := func(body []byte) error {
		if !bytes.Equal(body, plain) {
			t.Errorf("the load read %q", body)
		}
		return nil
	}
	l, err := LoadGzip(ctx, b.URL, "", 100, 500*time.Millisecond, check)
	if err != nil {
		t.Fatal(err)
	}
	if l.N != 50 || l.Errors != 0 {
		t.Fatalf("%d requests, %d errors; want 50, 0", l.N, l.Errors)
	}
}
