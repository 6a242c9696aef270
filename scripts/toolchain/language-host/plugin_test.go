package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// recorder is the engine's end of a RunPlugin stream.
type recorder struct {
	grpc.ServerStream
	ctx      context.Context
	messages []*pulumirpc.RunPluginResponse
}

func (r *recorder) Send(m *pulumirpc.RunPluginResponse) error {
	r.messages = append(r.messages, m)
	return nil
}

func (r *recorder) Context() context.Context { return r.ctx }

// project makes a project whose @pulumi/pulumi run-policy-pack is a stand-in
// that reports how it was started, and returns its policy pack directory.
func project(t *testing.T, runner string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "node_modules", "@pulumi", "pulumi", "cmd", "run-policy-pack")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.js"), []byte(runner), 0o644); err != nil {
		t.Fatal(err)
	}
	pack := filepath.Join(root, "policy")
	if err := os.Mkdir(pack, 0o755); err != nil {
		t.Fatal(err)
	}
	return pack
}

func runPlugin(t *testing.T, req *pulumirpc.RunPluginRequest) (*recorder, error) {
	t.Helper()
	r := &recorder{ctx: context.Background()}
	return r, (&languageHost{}).RunPlugin(req, r)
}

func TestRunPluginStartsThePolicyPackAndStreamsItsOutput(t *testing.T) {
	pack := project(t, `console.log(JSON.stringify({args: process.argv.slice(2), cwd: process.cwd(), env: process.env.MAILSTACK_PLUGIN_TEST}));
console.error("from stderr");
process.exit(3);
`)
	r, err := runPlugin(t, &pulumirpc.RunPluginRequest{
		Kind: "analyzer",
		Args: []string{"127.0.0.1:4242"},
		Env:  []string{"MAILSTACK_PLUGIN_TEST=passed"},
		Info: &pulumirpc.ProgramInfo{ProgramDirectory: pack, RootDirectory: pack, EntryPoint: "."},
	})
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	for _, m := range r.messages[:len(r.messages)-1] {
		stdout.Write(m.GetStdout())
		stderr.Write(m.GetStderr())
	}
	var got struct {
		Args []string
		Cwd  string
		Env  string
	}
	if err := json.Unmarshal([]byte(stdout.String()), &got); err != nil {
		t.Fatalf("stdout %q: %v", stdout.String(), err)
	}
	if strings.Join(got.Args, " ") != "127.0.0.1:4242 ." || got.Cwd != pack || got.Env != "passed" {
		t.Fatalf("runner started with %+v; want args [127.0.0.1:4242 .], cwd %s, env passed", got, pack)
	}
	if stderr.String() != "from stderr\n" {
		t.Fatalf("stderr %q", stderr.String())
	}
	last := r.messages[len(r.messages)-1]
	if _, ok := last.Output.(*pulumirpc.RunPluginResponse_Exitcode); !ok || last.GetExitcode() != 3 {
		t.Fatalf("last message %v; want exit code 3", last)
	}
}

func TestRunPluginRefusesOtherKindsAndSaysWhatIsMissing(t *testing.T) {
	_, err := runPlugin(t, &pulumirpc.RunPluginRequest{Kind: "resource"})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), `not "resource" plugins`) {
		t.Fatalf("resource plugin: %v", err)
	}
	_, err = runPlugin(t, &pulumirpc.RunPluginRequest{
		Kind: "analyzer",
		Info: &pulumirpc.ProgramInfo{ProgramDirectory: t.TempDir()},
	})
	if err == nil || !strings.Contains(err.Error(), "run `npm ci`") {
		t.Fatalf("no SDK: %v", err)
	}
}
