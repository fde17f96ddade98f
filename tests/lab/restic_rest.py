"""restic's REST protocol spoken by hand, over HTTP/2 on the stdio of a command (what
restic's rclone backend does), so a test can send what restic itself never would:
delete a snapshot, overwrite a pack, replace the repository's config."""

from __future__ import annotations

import subprocess

import h2.config
import h2.connection
import h2.events


def request(argv: list[str], method: str, path: str, body: bytes = b"",
            timeout: float = 60) -> int:
    """The HTTP status ``argv``'s server answers (0: it answered nothing)."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, [(":method", method), (":path", path), (":scheme", "http"),
                               (":authority", "restic"), ("content-length", str(len(body)))],
                      end_stream=not body)
    if body:
        conn.send_data(stream, body, end_stream=True)
    status = 0
    try:
        proc.stdin.write(conn.data_to_send())
        proc.stdin.flush()
        while not status:
            chunk = proc.stdout.read1(65536)
            if not chunk:
                break
            for event in conn.receive_data(chunk):
                if isinstance(event, h2.events.ResponseReceived):
                    status = int(dict(event.headers)[b":status"])
            if out := conn.data_to_send():
                proc.stdin.write(out)
                proc.stdin.flush()
    except BrokenPipeError:
        pass
    finally:
        proc.kill()
        proc.wait(timeout=timeout)
    return status
