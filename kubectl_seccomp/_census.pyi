from typing import Optional, Union

def census(
    block: bytes, needles: tuple[bytes, ...], /
) -> Optional[tuple[int, int, Union[tuple[int, int], list[int]], Optional[bytes]]]: ...
