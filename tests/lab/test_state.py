"""What the tabs share: bounded, locked caches; one job registry per workspace; hidden workspace paths."""
from __future__ import annotations

import threading
import time

from lab.state import BoundedCache, hide_workspace, registry_for


def test_a_cache_keeps_only_its_most_recently_used_entries():
    cache = BoundedCache(3)
    for key in range(5):
        cache.put(key, str(key))
    assert len(cache) == 3 and cache.get(0) is None and cache.get(2) == "2"
    cache.put(5, "5")  # 2 was just used: 3 is the oldest now
    assert cache.get(3) is None and cache.get(2) == "2"


def test_concurrent_handlers_build_a_quick_entry_once():
    cache, built, start = BoundedCache(4), [], threading.Event()

    def build():
        built.append(1)
        time.sleep(0.05)  # long enough for every thread to arrive while it builds
        return object()

    results = []
    threads = [threading.Thread(target=lambda: (start.wait(),
                                                results.append(cache.setdefault("audit", build))))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    start.set()
    for thread in threads:
        thread.join()
    assert len(built) == 1 and len({id(result) for result in results}) == 1


def test_one_registry_per_workspace_and_relative_paths_in_messages(tmp_path):
    assert registry_for(tmp_path) is registry_for(tmp_path / ".")
    message = f"cannot read {tmp_path.resolve()}/runs/x/config.yaml"
    assert hide_workspace(message, tmp_path) == "cannot read runs/x/config.yaml"
