package mdb

import "net"

func netPipe() (net.Conn, net.Conn) { return net.Pipe() }
