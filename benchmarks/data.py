"""d. data loading: patches/s of the DIV2K sub-image training pipeline in one worker."""
from __future__ import annotations

import tempfile
import time

from common import SHARED, timed

from gansr.data.div2k import SubImageDataset, extract_subimages


def data_loading() -> dict:
    """The DIV2K training pipeline (``SubImageDataset``: sub-image PNGs + their LR cut from the whole image's
    MATLAB bicubic LR, random aligned 128 px crop, flips) on sub-images of BSDS200 (DIV2K is not shipped):
    240 px crops (BSDS200 images are 481x321, too small for DIV2K's 480), step 120, thresh 48."""
    folder = SHARED / "BSDS200" / "HR"
    if not folder.is_dir():
        return {"skipped": f"needs {folder}"}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        count = extract_subimages(folder, tmp, crop=240, step=120, thresh=48, scale=4)
        extract = time.perf_counter() - start
        dataset = SubImageDataset("BSDS200_sub", tmp, scale=4, patch_size=128, augment=True)
        dataset.prepare()
        n = min(len(dataset), 200)
        seconds = timed(lambda: [dataset[i] for i in range(n)], 1, warmup=0)
    return {"sub_images": count, "extract_s": extract, "patches_timed": n, "patches_per_s_per_worker": n / seconds}
