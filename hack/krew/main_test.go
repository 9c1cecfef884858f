package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const (
	sumA = "1111111111111111111111111111111111111111111111111111111111111111"
	sumB = "2222222222222222222222222222222222222222222222222222222222222222"
	sumC = "3333333333333333333333333333333333333333333333333333333333333333"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name      string
		metadata  string
		checksums string
		version   string              // the manifest's spec.version
		want      map[string]platform // by os/arch
		wantErr   string
	}{{
		name:     "archives for each platform, the image beside them",
		metadata: `{"project_name":"urumi","tag":"v1.2.3","version":"1.2.3"}`,
		checksums: sumA + "  urumi_1.2.3_linux_amd64.tar.gz\n" +
			sumB + "  urumi_1.2.3_darwin_arm64.tar.gz\n" +
			sumC + "  urumi_1.2.3_windows_amd64.zip\n" +
			sumC + "  urumi_1.2.3_linux_amd64_image.tar\n",
		version: "v1.2.3",
		want: map[string]platform{
			"linux/amd64": {
				URI: "https://github.com/urumi/urumi/releases/download/v1.2.3/urumi_1.2.3_linux_amd64.tar.gz", Sha256: sumA, Bin: "urumi",
				Files: []fileOp{{"urumi", "."}, {"completions/kubectl_complete-urumi", "."}},
			},
			"darwin/arm64": {
				URI: "https://github.com/urumi/urumi/releases/download/v1.2.3/urumi_1.2.3_darwin_arm64.tar.gz", Sha256: sumB, Bin: "urumi",
				Files: []fileOp{{"urumi", "."}, {"completions/kubectl_complete-urumi", "."}},
			},
			"windows/amd64": {
				URI: "https://github.com/urumi/urumi/releases/download/v1.2.3/urumi_1.2.3_windows_amd64.zip", Sha256: sumC, Bin: "urumi.exe",
				Files: []fileOp{{"urumi.exe", "."}},
			},
		},
	}, {
		name:      "a snapshot's version",
		metadata:  `{"tag":"v0.0.0","version":"0.0.1-next"}`,
		checksums: sumA + "  urumi_0.0.1-next_linux_arm64.tar.gz\n",
		version:   "v0.0.1-next",
		want: map[string]platform{"linux/arm64": {
			URI: "https://github.com/urumi/urumi/releases/download/v0.0.0/urumi_0.0.1-next_linux_arm64.tar.gz", Sha256: sumA, Bin: "urumi",
			Files: []fileOp{{"urumi", "."}, {"completions/kubectl_complete-urumi", "."}},
		}},
	}, {
		name:      "another release's archives",
		metadata:  `{"tag":"v1.2.3","version":"1.2.3"}`,
		checksums: sumA + "  urumi_1.2.2_linux_amd64.tar.gz\n",
		wantErr:   "lists no urumi_1.2.3_<os>_<arch> archive",
	}, {
		name:      "not a sha256",
		metadata:  `{"tag":"v1.2.3","version":"1.2.3"}`,
		checksums: "abc  urumi_1.2.3_linux_amd64.tar.gz\n",
		wantErr:   "is not a sha256",
	}, {
		name:      "no tag",
		metadata:  `{"version":"1.2.3"}`,
		checksums: sumA + "  urumi_1.2.3_linux_amd64.tar.gz\n",
		wantErr:   "names no tag or version",
	}, {
		name:     "no checksums",
		metadata: `{"tag":"v1.2.3","version":"1.2.3"}`,
		wantErr:  "read the release's checksums",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dist := t.TempDir()
			write(t, filepath.Join(dist, "metadata.json"), tt.metadata)
			if tt.checksums != "" {
				write(t, filepath.Join(dist, "checksums.txt"), tt.checksums)
			}
			out := filepath.Join(dist, "krew", "urumi.yaml")
			err := run([]string{"-dist", dist, "-base", "../../plugins/urumi.yaml", "-out", out}, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var got plugin
			if err := yaml.UnmarshalStrict(b, &got); err != nil {
				t.Fatalf("the manifest written does not read back: %v\n%s", err, b)
			}
			base, err := readPlugin("../../plugins/urumi.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if got.Metadata.Name != "urumi" || got.Spec.ShortDescription != base.Spec.ShortDescription || got.Spec.Description != base.Spec.Description {
				t.Errorf("names and descriptions not kept from plugins/urumi.yaml:\n%s", b)
			}
			if got.Spec.Version != tt.version {
				t.Errorf("version %q, want %q", got.Spec.Version, tt.version)
			}
			if len(got.Spec.Platforms) != len(tt.want) {
				t.Fatalf("%d platforms, want %d:\n%s", len(got.Spec.Platforms), len(tt.want), b)
			}
			for _, p := range got.Spec.Platforms {
				key := p.Selector.MatchLabels["os"] + "/" + p.Selector.MatchLabels["arch"]
				want, ok := tt.want[key]
				if !ok {
					t.Errorf("unexpected platform %s", key)
					continue
				}
				p.Selector.MatchLabels = nil
				if g, w := mustJSON(t, p), mustJSON(t, want); g != w {
					t.Errorf("platform %s:\n got %s\nwant %s", key, g, w)
				}
			}
		})
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
