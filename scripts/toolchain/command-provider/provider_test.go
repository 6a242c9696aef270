package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func mustMarshal(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := marshal(resource.NewPropertyMapFromMap(m), "test")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func diff(t *testing.T, typ string, olds, news map[string]any) *pulumirpc.DiffResponse {
	t.Helper()
	resp, err := newProvider(nil).Diff(context.Background(), &pulumirpc.DiffRequest{
		Urn: "urn:pulumi:s::p::" + typ + "::x", Type: typ,
		OldInputs: mustMarshal(t, olds), Olds: mustMarshal(t, olds), News: mustMarshal(t, news),
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestDiff(t *testing.T) {
	base := map[string]any{"create": "a", "triggers": []any{"x"}, "environment": map[string]any{"K": "v"}}
	if r := diff(t, typeLocal, base, base); r.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("unchanged inputs: got %v", r.Changes)
	}

	changed := map[string]any{"create": "b", "triggers": []any{"x"}, "environment": map[string]any{"K": "v"}}
	r := diff(t, typeLocal, base, changed)
	if r.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(r.Replaces) != 0 ||
		r.DetailedDiff["create"].GetKind() != pulumirpc.PropertyDiff_UPDATE {
		t.Fatalf("create change should update in place: %v", r)
	}

	retrigger := map[string]any{"create": "a", "triggers": []any{"y"}, "environment": map[string]any{"K": "v"}}
	r = diff(t, typeLocal, base, retrigger)
	if len(r.Replaces) != 1 || r.Replaces[0] != "triggers" || r.DeleteBeforeReplace ||
		r.DetailedDiff["triggers"].GetKind() != pulumirpc.PropertyDiff_UPDATE_REPLACE {
		t.Fatalf("triggers change should replace: %v", r)
	}

	noEnv := map[string]any{"create": "a", "triggers": []any{"x"}}
	r = diff(t, typeLocal, base, noEnv)
	if r.DetailedDiff["environment"].GetKind() != pulumirpc.PropertyDiff_DELETE {
		t.Fatalf("removed environment should be a delete: %v", r)
	}
}

func TestLocalRunAndError(t *testing.T) {
	p := newProvider(nil)
	s, err := parseSpec(typeLocal, resource.NewPropertyMapFromMap(map[string]any{
		"stdin": "hidden-stdin", "environment": map[string]any{"E": "hidden-env"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := p.run(context.Background(), "", "create", s, `cat; echo " $E $PULUMI_COMMAND_STDOUT"`, &[2]string{"prev", ""})
	if err != nil || out != "hidden-stdin hidden-env prev" {
		t.Fatalf("got %q, %v", out, err)
	}
	_, _, err = p.run(context.Background(), "", "update", s, "cat >/dev/null; echo boom >&2; exit 3", nil)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("want exit status and stderr in %v", err)
	}
	if strings.Contains(err.Error(), "hidden") {
		t.Fatalf("error leaks stdin or environment: %v", err)
	}
}

func TestLocalCancelKillsProcessGroup(t *testing.T) {
	p := newProvider(nil)
	s, _ := parseSpec(typeLocal, resource.PropertyMap{})
	go func() { time.Sleep(300 * time.Millisecond); p.cancelAll() }()
	ctx, done := p.opContext(context.Background(), 0)
	defer done()
	start := time.Now()
	_, _, err := p.run(ctx, "", "create", s, "sleep 30 & sleep 30; wait", nil)
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("cancel did not stop the command in time: %v after %s", err, time.Since(start))
	}
}
