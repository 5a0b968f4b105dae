"""What the bdevperf tests share: pass/fail reporting and one JSON-RPC call in rpc.py's framing
(the request pretty-printed with no delimiter; the reply is whatever one JSON value the socket
brings, however it is split)."""
import json

failures = []


def check(cond, what, out=""):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
        print(str(out)[-3000:])


def request(conn, method, req_id, params=None):
    """One call; its decoded reply."""
    req = {"jsonrpc": "2.0", "method": method, "id": req_id}
    if params is not None:
        req["params"] = params
    conn.sendall(json.dumps(req, indent=2).encode())
    return read_reply(conn, method)


def read_reply(conn, method):
    buf, dec = b"", json.JSONDecoder()
    while True:
        chunk = conn.recv(1 << 16)
        if not chunk:
            raise ConnectionError(f"{method}: bdevperf closed the connection")
        buf += chunk
        try:
            return dec.raw_decode(buf.decode())[0]
        except ValueError:
            continue
