"""Clean up a photo of paper before the digit is cut out: uneven light, ruled and grid lines, specks.

Pure functions of pixels (numpy, Pillow, scipy). A canvas drawing or a clean scan never
comes here: `looks_like_photo` sends only pictures whose background is noisy or shaded, so the
canvas path stays exactly as it was.

The steps, on a copy at most WORK_SIDE pixels a side (a 12-megapixel photo is mostly paper):
0. a sheet photographed lying on something darker (a desk, a table) is found, and what shows
   around it is not ink: its sharp edge would otherwise read as a frame drawn round the digit
   (a shadow inside the sheet's convex outline stays paper);
1. the paper's light, estimated at low resolution where the ink is too thin to count (a grey
   closing), is divided out: shadows and gradients go;
2. ink = how much darker than its paper each pixel is, stretched to 0-255 (colour ink on tinted
   paper ends up as strong as black ink on white);
3. long thin horizontal and vertical lines that cross most of the picture (ruled paper, grids)
   are removed, and the strokes that crossed them are joined again;
4. specks (paper texture, dust, JPEG noise that survived), pieces much fainter than the pen's
   strokes (what is left of a shadow's edge) and straight bars beside the digit (what is left of
   a margin, a line or the sheet's edge; never taken for the digit) are dropped.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from service.imaging.cuts import stroke_width

WORK_SIDE = 640
PAPER_WINDOW = (
    0.12  # the paper's light is judged over this share of the picture: wider than a stroke
)
# A clean image has most of its background at one value; a photo's paper never does.
CLEAN_SHARE = 0.6
MIN_PHOTO_SIDE = 32  # in the background sample: smaller pictures are MNIST-like inputs, not photos
NEAR_BACKGROUND = 3  # grey levels
LINE_SPAN = 0.6  # a ruled line crosses at least this share of the picture
RUN_SHARE = 0.1  # ... in straight thin runs at least this share of the picture long
LINE_THICKNESS = 0.05  # ... and is at most this share of the picture thick
SPECK_SHARE = 0.02  # pieces with less ink than this share of the largest piece are specks
HEAVY_SHARE = 0.25  # pieces this heavy stay wherever they are
FAINT_SHARE = 0.5  # ink under this share of the pen's typical level is shadow, not stroke
NEAR_SHARE = 0.25  # lighter pieces stay this close to the largest (a share of its size)
# A piece that is a straight bar (its length this many times its width, by its second moments, so
# that a tilted bar counts too) lying wholly beside the digit is what is left of a ruled line, a
# margin or the sheet's edge when it is thinner than half the pen's stroke, or longer than the digit
# is tall or wide by this share: not a stroke of the digit (whose strokes cross or touch one
# another's boxes), nor a 1 beside it (as wide as the pen's other strokes, about as tall).
REMNANT_ELONGATION = 5.0
REMNANT_THINNER = 0.5
REMNANT_LONGER = 1.3
# The digit is the heaviest piece that is not a bar, unless none weighs this share of the heaviest
# (a margin's stretch can outweigh a small digit written in pencil).
DIGIT_SHARE = 0.2
INK_LEVEL = 64  # after stretching: clearly ink, a quarter of the strongest
NOISE_LEVEL = 24  # fainter than this is paper texture or noise
COARSE_SIDE = 96  # the paper's light and the sheet's outline are judged at this size
SHEET_EDGE_STEP = 0.25  # × the paper's light, across 3 coarse pixels: a sheet's edge on a desk
SURROUND_DARKER = 0.75  # a region at the border this much darker than the paper is the desk
DESK_SPREAD = 0.1  # × the paper's light: how far from its level the desk's own pixels lie
MIN_SHEET = 0.25  # a sheet found by its edge fills at least this share of the picture,
SMALL_SHEET = 0.08  # ... or at least this share, when it is solid:
SMALL_SHEET_FILL = 0.6  # it fills this share of its box (the strokes of a bold chalk 7 do not)
# A sheet on a flat desk, told from strokes by its spread (paper is never flat, a stroke is): it
# fills at least this share of the picture, and, its shadows filled in, this share of its own box
# (a turned rectangle; shadows that reach its edge leave notches).
SHEET_SHARE = 0.05
SHEET_FILL = 0.45
DESK_CONTACT = 0.6  # × the shorter side: how much of the picture's border a desk runs along


def looks_like_photo(sample: np.ndarray, background: float) -> bool:
    """Whether a grid sample of a picture's pixels shows paper rather than a flat background.

    Only the pixels on the paper's side of the midway grey are judged, so the amount of ink does
    not matter: in a drawing or a scan nearly all of them sit at the background value; on a photo
    of paper (noise, texture, shading) they spread. A sheet lying on a plain desk has the desk for
    its background; then the far side is the sheet, which a stroke never is: its pixels spread
    where a stroke's ink is one flat colour, and it fills some of the picture and, its shadows
    filled in, much of its own box."""
    if min(sample.shape) < MIN_PHOTO_SIDE:
        return False
    values = sample.astype(np.int16)
    far = int(values.min()) if background > 127 else int(values.max())
    midway = (background + far) / 2
    paper_side = values > midway if background > 127 else values < midway
    if paper_side.any() and _spread(values[paper_side], round(background)):
        return True
    if background > 127:
        return False  # the far side is dark: ink, or a picture, never a sheet lighter than its desk
    far_side = ~paper_side
    # The spread first: it is cheap, and a canvas's strokes (one flat colour) fail it, so the
    # filling of holes never runs for them.
    return _spread(values[far_side], float(np.median(values[far_side]))) and _sheet_like(far_side)


def _spread(values: np.ndarray, level: float) -> bool:
    """Whether fewer than CLEAN_SHARE of the values sit within NEAR_BACKGROUND of `level`."""
    return float((np.abs(values - level) <= NEAR_BACKGROUND).mean()) < CLEAN_SHARE


def _sheet_like(mask: np.ndarray) -> bool:
    """Whether a mask fills some of the picture and much of its own box, as a sheet does."""
    if mask.mean() < SHEET_SHARE:
        return False
    # Shadows inside the sheet fall on the desk's side: fill them in.
    return _fills_box(ndimage.binary_fill_holes(mask), SHEET_FILL)


def _fills_box(mask: np.ndarray, share: float) -> bool:
    """Whether a mask that holds something covers at least `share` of its own bounding box."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    box = (rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1)
    return bool(mask.sum() >= share * box)


def _work_copy(gray: np.ndarray) -> np.ndarray:
    longer = max(gray.shape)
    if longer <= WORK_SIDE:
        return gray
    factor = -(-longer // WORK_SIDE)
    return np.asarray(Image.fromarray(gray).reduce(factor))


def _coarse(picture: np.ndarray) -> np.ndarray:
    """The picture at about COARSE_SIDE pixels a side (float32), where pen strokes are thin."""
    height, width = picture.shape
    scale = COARSE_SIDE / max(height, width)
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    return np.asarray(Image.fromarray(picture).resize(size, Image.Resampling.BOX), np.float32)


def _otsu(values: np.ndarray) -> float | None:
    """The grey level that best splits `values` (0-255) into a dark and a light class; None when
    they hold a single level (flat colour), which no level splits."""
    counts = np.bincount(np.clip(values, 0, 255).astype(np.int64).ravel(), minlength=256)
    levels = np.arange(256, dtype=np.float64)
    below = np.cumsum(counts)
    mass = np.cumsum(counts * levels)
    above = below[-1] - below
    splits = (below > 0) & (above > 0)
    if not splits.any():
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = (mass[-1] * below - mass * below[-1]) ** 2 / (below * above)
    return float(np.nanargmax(np.where(splits, spread, np.nan)))


def _surround(picture: np.ndarray) -> np.ndarray | None:
    """Where a light sheet's darker surroundings (a desk) show in a photo, at the picture's size;
    None when the paper fills the picture.

    The surround is the part of the coarse picture's dark class (Otsu's split; then, when shading
    on the paper joined that class, the split of the dark class itself) that touches the
    picture's border at the desk's own level, is clearly darker than the paper, meets it at a
    sharp step (a shadow or a light gradient touches the border too, but fades in) and runs
    along the border (a stroke that runs off the picture only crosses it)."""
    coarse = ndimage.median_filter(_coarse(picture), size=3, mode="nearest")
    ring = np.zeros(coarse.shape, bool)  # the picture's border
    ring[[0, -1], :] = ring[:, [0, -1]] = True
    level = paper_level = _otsu(coarse)
    for _ in range(2):
        if level is None:
            return None  # one flat level: nothing to tell a desk from
        dark = coarse <= level
        if not (dark.any() and _sheet_sized(~dark)):
            return None  # all sheet, or no sheet (light strokes on a dark board are not one)
        paper = float(np.median(coarse[~dark]))
        surround = _at_desk_level(coarse, dark, ring, paper)
        if (
            surround.any()
            and float(np.median(coarse[surround])) <= SURROUND_DARKER * paper
            and _sharp_edge(coarse, surround, dark, paper)
        ):
            # A shadow as dark as the desk joins it where it reaches the sheet's edge; but a
            # sheet is convex, and what lies within its outline is paper.
            surround &= ~_sheet_hull(coarse > paper_level)
            desk = _along_border(surround, ring)
            if not desk.any():
                return None
            # Two coarse pixels more: the sheet's edge is soft, and the paper's light, judged at
            # the coarse size, spills that far onto the desk.
            grown = ndimage.binary_dilation(desk, np.ones((5, 5)))
            return np.asarray(
                Image.fromarray(grown).resize(picture.shape[::-1], Image.Resampling.NEAREST)
            )
        # A surround that meets no paper is a shadow's rim, not a desk: split the dark class.
        level = _otsu(coarse[dark])
    return None


def _sheet_hull(light: np.ndarray) -> np.ndarray:
    """The convex hull of the largest light piece of a coarse picture (the sheet): a sheet is a
    convex quadrilateral, so a shadow that reaches into it from its edge is still sheet."""
    labels, count = ndimage.label(light)
    if count == 0:
        return light
    largest = 1 + int(np.argmax(ndimage.sum_labels(light, labels, np.arange(1, count + 1))))
    sheet: np.ndarray = labels == largest
    rows, columns = np.nonzero(sheet)
    points = np.column_stack([columns, rows])
    try:
        vertices = ConvexHull(points).vertices
    except QhullError:  # a line or a point: no area to fill
        return sheet
    hull = Image.new("1", light.shape[::-1])
    ImageDraw.Draw(hull).polygon([(int(x), int(y)) for x, y in points[vertices]], fill=1)
    inside: np.ndarray = np.asarray(hull, dtype=bool) | sheet
    return inside


def _sheet_sized(light: np.ndarray) -> bool:
    """Whether the light class of a coarse picture is large enough to be a sheet: a quarter of the
    picture, or a smaller sheet (photographed from further away) that is solid, filling most of
    its box, which the strokes of even a bold chalk digit on a board never do."""
    share = float(light.mean())
    if share >= MIN_SHEET:
        return True
    return share >= SMALL_SHEET and _fills_box(light, SMALL_SHEET_FILL)


def _at_desk_level(
    coarse: np.ndarray, dark: np.ndarray, ring: np.ndarray, paper: float
) -> np.ndarray:
    """The dark class where it touches the border, and only what is as dark as the desk is where
    it meets the border: a shadow on the paper that the dark class joined to it (and any digit
    inside that shadow) stays."""
    surround = _touching_border(dark)
    if not surround.any():
        return surround
    desk = float(np.median(coarse[surround & ring]))
    return _touching_border(dark & (np.abs(coarse - desk) <= DESK_SPREAD * paper))


def _sharp_edge(coarse: np.ndarray, surround: np.ndarray, dark: np.ndarray, paper: float) -> bool:
    """Whether the surround meets the paper at a sharp step: from each of its pixels next to the
    paper, how much lighter the lightest pixel two coarse pixels away is (median over them)."""
    edge = surround & ndimage.binary_dilation(~dark, np.ones((3, 3)))
    lightest = ndimage.grey_dilation(coarse, size=(5, 5), mode="nearest")
    step = lightest[edge] - coarse[edge]
    return bool(step.size) and float(np.median(step)) >= SHEET_EDGE_STEP * paper


def _along_border(surround: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """The surround's pieces that run along the picture's border (a desk); a stroke that runs off
    the picture meets the border only across its width, and stays ink."""
    labels, count = ndimage.label(surround)
    contact = ndimage.sum_labels(ring, labels, np.arange(1, count + 1))
    along = np.flatnonzero(contact >= DESK_CONTACT * min(surround.shape)) + 1
    return np.isin(labels, along)


def _touching_border(mask: np.ndarray) -> np.ndarray:
    """The parts of a mask connected to the picture's border."""
    labels, _ = ndimage.label(mask)
    border = np.concatenate((labels[0], labels[-1], labels[:, 0], labels[:, -1]))
    return np.isin(labels, border[border > 0])


def _paper_light(dark_ink: np.ndarray) -> np.ndarray:
    """The paper's brightness at every pixel, for dark ink on light paper (float32)."""
    height, width = dark_ink.shape
    coarse = _coarse(dark_ink)
    # Ink is darker than paper: a grey closing (the brightest value around each point, then the
    # darkest of those) removes every dark feature narrower than the window (pen strokes, lines)
    # and keeps the edges of broad light changes (a shadow) where they are.
    window = max(3, round(COARSE_SIDE * PAPER_WINDOW))
    paper = ndimage.grey_closing(coarse, size=(window, window), mode="nearest")
    paper = ndimage.uniform_filter(paper, size=3, mode="nearest")
    full = Image.fromarray(paper).resize((width, height), Image.Resampling.BILINEAR)
    return np.maximum(np.asarray(full, np.float32), 1.0)


def _remove_lines(ink: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ink and mask without long thin horizontal and vertical lines, strokes across them rejoined."""
    height, width = mask.shape
    for axis in (0, 1):  # 0: horizontal lines (along the rows), 1: vertical ones
        span = width if axis == 0 else height
        across = height if axis == 0 else width
        length = max(8, round(span * RUN_SHARE))
        along = (1, length) if axis == 0 else (length, 1)
        # Tolerate a slight tilt: thicken the mask across the line before looking for long runs.
        tilt = (3, 1) if axis == 0 else (1, 3)
        runs = ndimage.binary_opening(ndimage.binary_dilation(mask, np.ones(tilt)), np.ones(along))
        if not runs.any():
            continue
        # Thin where the run is thin: a line that touches a stroke stays thin beside it (judging
        # each run as a whole kept the stretch of line next to a digit as ink).
        thickest = int(max(4, LINE_THICKNESS * across)) + 3
        across_line = (thickest, 1) if axis == 0 else (1, thickest)
        thin_runs = runs & ~ndimage.binary_opening(runs, np.ones(across_line))
        # A ruled line is a row of thin runs across most of the picture, even where shadow or a
        # crossing digit breaks it into pieces (a few rows together, for a slight tilt).
        near_rows = ndimage.maximum_filter1d(thin_runs, size=5, axis=axis)
        coverage = near_rows.mean(axis=1 - axis)
        on_a_line = coverage >= LINE_SPAN
        lines = thin_runs & (on_a_line[:, None] if axis == 0 else on_a_line[None, :])
        if not lines.any():
            continue
        band = lines & mask
        kept = mask & ~band
        # Rejoin strokes that crossed a line: close gaps across it, only inside the removed band.
        band_thickness = max(3, round(LINE_THICKNESS * across))
        bridge = (band_thickness, 1) if axis == 0 else (1, band_thickness)
        rejoined = ndimage.binary_closing(kept, np.ones(bridge)) & band
        mask = kept | rejoined
        # The line's faint anti-aliased edges go with it.
        removed = ndimage.binary_dilation(band & ~rejoined, np.ones((3, 3))) & ~mask
        ink = np.where(removed, 0, ink).astype(ink.dtype)
    return ink, mask


def _drop_specks(ink: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Keep the digit's largest piece, the pieces nearly as heavy, and small ones close to it (a
    5's flag, a stroke broken by a removed line); drop the rest (texture, line ends, dust, the
    remnants of lines) and whatever is much fainter than the pen's strokes (the edge of a shadow,
    which flattening the light leaves as a broad grey band, heavier than many a digit, alone or
    touching a stroke)."""
    labels, count = ndimage.label(mask, np.ones((3, 3)))
    if count < 2:
        return ink
    index = np.arange(1, count + 1)
    mass = ndimage.sum_labels(ink.astype(np.float32), labels, index)
    level = np.asarray(ndimage.median(ink, labels, index), np.float32)
    boxes = ndimage.find_objects(labels)

    @cache
    def bar(number: int) -> tuple[float, float] | None:
        return _bar(labels[boxes[number]] == number + 1)

    # Only pieces heavy enough to be the digit are asked whether they are bars.
    is_bar = np.zeros(count, dtype=bool)
    for candidate in np.flatnonzero(mass >= DIGIT_SHARE * mass.max()).tolist():
        is_bar[candidate] = bar(candidate) is not None
    heavy = mass >= HEAVY_SHARE * mass.max()
    heavy_strokes = heavy & ~is_bar
    pen = level[heavy_strokes if heavy_strokes.any() else heavy].max()  # a dark margin aside
    mass = np.where(level >= FAINT_SHARE * pen, mass, 0.0)
    not_bars = np.where(is_bar, 0.0, mass)
    largest = int((not_bars if not_bars.max() >= DIGIT_SHARE * mass.max() else mass).argmax())
    main = boxes[largest]
    grow_y = (main[0].stop - main[0].start) * NEAR_SHARE
    grow_x = (main[1].stop - main[1].start) * NEAR_SHARE
    pen_width = stroke_width(labels[main] == largest + 1)
    digit_size = max(main[0].stop - main[0].start, main[1].stop - main[1].start)

    def remnant(number: int) -> bool:
        shape = bar(number) if number != largest and not _meets(boxes[number], main) else None
        if shape is None:
            return False
        width, length = shape
        return width <= REMNANT_THINNER * pen_width or length >= REMNANT_LONGER * digit_size

    keep = [False]
    for number, (box, weight) in enumerate(zip(boxes, mass, strict=True)):
        near = _meets(box, main, grow_y, grow_x)
        heavy_enough = weight >= HEAVY_SHARE * mass[largest]
        keep.append(
            weight > 0
            and (heavy_enough or (near and weight >= SPECK_SHARE * mass[largest]))
            and not remnant(number)
        )
    strong = ink >= FAINT_SHARE * pen
    return np.where(np.asarray(keep)[labels] & strong, ink, 0).astype(ink.dtype)


def _meets(
    box: tuple[slice, slice], other: tuple[slice, slice], grow_y: float = 0, grow_x: float = 0
) -> bool:
    """Whether two boxes overlap, `other` grown by `grow_y` rows and `grow_x` columns each way."""
    return bool(
        box[0].stop > other[0].start - grow_y
        and box[0].start < other[0].stop + grow_y
        and box[1].stop > other[1].start - grow_x
        and box[1].start < other[1].stop + grow_x
    )


def _bar(piece: np.ndarray) -> tuple[float, float] | None:
    """(width, length) of a piece of ink (its mask within its box) that is a straight bar, or
    None for any other shape."""
    rows, columns = np.nonzero(piece)
    if len(rows) < 3:
        return None
    across, along = np.linalg.eigvalsh(np.cov(np.stack([rows, columns]).astype(np.float64)))
    across = max(across, 1.0 / 12)
    if along < REMNANT_ELONGATION**2 * across:
        return None
    # A bar w wide and L long has second moments w²/12 across and L²/12 along it.
    return float(np.sqrt(12 * across)), float(np.sqrt(12 * along))


def clean_photo(gray: np.ndarray, dark_ink: bool) -> np.ndarray:
    """A photo of a digit on paper → its ink as uint8, white on black, background 0."""
    work = _work_copy(gray)
    # A light sheet on a desk holds dark ink, whichever of them fills more of the picture.
    surround = _surround(work)
    if surround is None and not dark_ink:  # light ink on a dark board: the same steps inverted
        work = 255 - work
    paper = _paper_light(work)
    # How much darker than its own paper each pixel is, as a share of the paper's light.
    darkness = np.clip(1.0 - work.astype(np.float32) / paper, 0.0, 1.0)
    if surround is not None:
        darkness[surround] = 0.0  # the desk's own marks and the sheet's edge are no ink
    sheet = darkness if surround is None else darkness[~surround]
    if sheet.size == 0:
        return np.zeros_like(work)
    noise = float(np.percentile(sheet, 50))
    strongest = float(np.percentile(sheet, 99.9))
    if strongest - noise <= 0:
        return np.zeros_like(work)
    ink = np.clip((darkness - noise) / (strongest - noise), 0, 1)
    ink = (ink * 255).astype(np.uint8)
    mask = ink > INK_LEVEL
    # Ruled lines cross the sheet, not the picture: on a desk, they are looked for on the sheet.
    on_sheet = ndimage.find_objects((~surround).astype(np.int8))[0] if surround is not None else ...
    ink[on_sheet], mask[on_sheet] = _remove_lines(ink[on_sheet], mask[on_sheet])
    kept = _drop_specks(ink, mask) > INK_LEVEL
    # The strokes' soft edges stay; faint marks anywhere else (line remnants, texture) go, since
    # the crop to the digit would count them.
    near_strokes = ndimage.binary_dilation(kept, np.ones((3, 3)), iterations=2)
    return np.where(near_strokes & (ink > NOISE_LEVEL), ink, 0).astype(np.uint8)
