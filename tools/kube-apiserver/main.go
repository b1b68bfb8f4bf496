// Command kube-apiserver is the unmodified upstream Kubernetes API server, built from its Go module so
// that the lineagegraph tests can run against a real API server without Docker or a cluster.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
