"""A server of your own, mounted into the lab: it reads until the client's FIN (EOF),
then answers on the half-closed connection and closes it (the lesson's graceful
shutdown, seen from the server)."""

import socket
import sys

port = int(sys.argv[1])
with socket.create_server(("", port), reuse_port=False) as server:
    connection, _ = server.accept()
    with connection:
        received = b""
        while chunk := connection.recv(4096):
            received += chunk
        print(f"read {len(received)} bytes, then EOF", flush=True)
        connection.sendall(b"answer to: " + received.strip() + b"\n")
print("answered and closed", flush=True)
