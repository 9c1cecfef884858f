// Command etcd is the etcd server used by the simulated cluster, built from
// the published etcd module so no prebuilt binary has to be downloaded.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
