// Command pulumi-resource-command: see provider.go.
//
// Process contract: like every plugin, flags may come first, the engine's
// address is the last argument, and the chosen port goes to stdout.
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
	"google.golang.org/grpc/credentials/insecure"
)

// providerVersion is stamped by scripts/toolchain.sh (-X main.providerVersion=...).
var providerVersion = "1.2.1"

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "--version" || os.Args[1] == "version") {
		fmt.Println(providerVersion)
		return
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := make(chan bool)
	go func() { <-ctx.Done(); close(stop) }()

	var engine pulumirpc.EngineClient
	if n := len(os.Args); n > 1 && !strings.HasPrefix(os.Args[n-1], "-") {
		addr := os.Args[n-1]
		conn, err := grpc.NewClient(addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()), rpcutil.GrpcChannelOptions())
		if err != nil {
			fail("could not connect to engine %s: %v", addr, err)
		}
		engine = pulumirpc.NewEngineClient(conn)
		// Exit when the engine goes away rather than linger as an orphan.
		if err := rpcutil.Healthcheck(ctx, addr, 5*time.Minute, cancel); err != nil {
			fail("could not watch engine %s: %v", addr, err)
		}
	}

	prov := newProvider(engine)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: stop,
		Init: func(s *grpc.Server) error {
			pulumirpc.RegisterResourceProviderServer(s, prov)
			return nil
		},
	})
	if err != nil {
		fail("could not start provider: %v", err)
	}

	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fail("provider stopped: %v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pulumi-resource-command: "+format+"\n", args...)
	os.Exit(1)
}
