// Command pulumi-language-nodejs is mailstack's own, deliberately small Pulumi
// language host for Node.js programs.
//
// Why it exists: the upstream host lives in its own Go module, which the only
// module mirror we can reach refuses to serve, so the CLI we build from source
// would have no way to run a TypeScript program. The real work (ts-node,
// config, talking to the resource monitor) is done by the runner that ships in
// the @pulumi/pulumi npm package; this host only has to start that runner the
// way the engine expects and report how it ended. Policy packs (`pulumi
// preview --policy-pack policy`) run the same way, through the package's
// run-policy-pack (plugin.go).
//
// Process contract with the engine: flags (-v, --tracing URL, --logtostderr,
// ...) may come first and are ignored; the engine's address is always the last
// argument; we listen on a kernel-chosen loopback port and print that port on
// the first line of stdout.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
)

// version is stamped by scripts/toolchain.sh (-ldflags -X main.version=...) so
// the engine sees the same version as the CLI it was built next to.
var version = "3.248.0"

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "--version" || os.Args[1] == "version") {
		fmt.Println(version)
		return
	}

	engineAddr := ""
	if n := len(os.Args); n > 1 && !strings.HasPrefix(os.Args[n-1], "-") {
		engineAddr = os.Args[n-1]
	}

	// Exit when the engine goes away, so an interrupted `pulumi up` does not
	// leave orphaned hosts (and node children) behind.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := make(chan bool)
	if engineAddr != "" {
		if err := rpcutil.Healthcheck(ctx, engineAddr, 5*time.Minute, cancel); err != nil {
			fail("could not watch engine %s: %v", engineAddr, err)
		}
	}
	go func() { <-ctx.Done(); close(stop) }()

	host := &languageHost{engineAddr: engineAddr}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: stop,
		Init: func(s *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(s, host)
			return nil
		},
	})
	if err != nil {
		fail("could not start language host: %v", err)
	}

	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fail("language host stopped: %v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: "+format+"\n", args...)
	os.Exit(1)
}
