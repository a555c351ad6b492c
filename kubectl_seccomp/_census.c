/* The census of a block of audit log lines, in C: the optional fast path of `generate`.

   `kubectl_seccomp.audit.census_block` is the pure-Python original and the reference; this
   module gives the same answer (tests compare them on real and generated blocks) at memchr
   and memmem speed instead of the regular-expression engine's, which is what lets `generate`
   read a big audit.log faster than `grep | grep | grep -o | sort -u`. It is built when a C
   compiler is present at `pip install` time, and the Krew archives of linux/amd64 and
   linux/arm64 carry it prebuilt; without it the pure-Python census runs instead. The node agent never uses it.

   census(block: bytes, needles: tuple[bytes, ...]) returns None when the block needs the
   Python census (a serial too long for 64 bits, auditd's own DAEMON_* records, "callbacks
   suppressed" lines: all rare), or a tuple (lines, marks, serials, record_text) where
     lines       = number of lines (a last line without a newline counts),
     marks       = occurrences of b"SECCOMP" plus occurrences of b"type=1326",
     serials     = (first, last) when the audit serials (each line's header
                   `audit(SECONDS.MILLIS:SERIAL)`, in order) never go down and never skip a number, else the list of them all,
     record_text = None without needles; else every line holding a needle (the caller passes
                   b" pid=N comm=" for each selected pid), from its first needle to its end,
                   each followed by a newline: the only text where the record pattern of
                   those pids can match, so matching it there finds exactly what matching
                   the whole block finds. */

/* Only the stable ABI of CPython 3.9 (no macros that reach into objects, no METH_FASTCALL): one
   build, tagged abi3, loads into every CPython >= 3.9; the Krew archives of linux/amd64 and
   linux/arm64 carry it so (scripts/build_dist.py), and pip builds it the same way (setup.py). */
#ifndef Py_LIMITED_API
#define Py_LIMITED_API 0x03090000
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Longest serial we parse here; longer ones send the block to Python (big ints there). */
#define MAX_SERIAL_DIGITS 18

typedef struct {
    int64_t *items;
    Py_ssize_t length;
    Py_ssize_t capacity;
} Int64List;

static int int64_list_append(Int64List *list, int64_t value) {
    if (list->length == list->capacity) {
        Py_ssize_t capacity = list->capacity ? list->capacity * 2 : 4096;
        int64_t *items = PyMem_Realloc(list->items, (size_t)capacity * sizeof(int64_t));
        if (items == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        list->items = items;
        list->capacity = capacity;
    }
    list->items[list->length++] = value;
    return 0;
}

static Py_ssize_t count_occurrences(const char *start, const char *end, const char *needle, size_t length) {
    Py_ssize_t count = 0;
    const char *cursor = start;
    while ((size_t)(end - cursor) >= length) {
        const char *hit = memmem(cursor, (size_t)(end - cursor), needle, length);
        if (hit == NULL) {
            break;
        }
        count++;
        cursor = hit + length;
    }
    return count;
}

/* Where the next occurrence of `needle` starts, found by its byte at `rare` (one that occurs
   once in the needle and seldom in audit text): memchr outruns memmem when hits are many.
   Occurrences of our needles cannot overlap, so every one holds its own rare byte. */
static const char *find_by_rare_byte(const char *cursor, const char *end, const char *needle, size_t length,
                                     size_t rare) {
    const char *probe = cursor + rare;
    while (probe < end) {
        const char *hit = memchr(probe, needle[rare], (size_t)(end - probe));
        if (hit == NULL) {
            return NULL;
        }
        const char *candidate = hit - rare;
        if ((size_t)(end - candidate) >= length && memcmp(candidate, needle, length) == 0) {
            return candidate;
        }
        probe = hit + 1;
    }
    return NULL;
}

static Py_ssize_t count_by_rare_byte(const char *start, const char *end, const char *needle, size_t length,
                                     size_t rare) {
    Py_ssize_t count = 0;
    const char *cursor = start;
    const char *hit;
    while ((hit = find_by_rare_byte(cursor, end, needle, length, rare)) != NULL) {
        count++;
        cursor = hit + length;
    }
    return count;
}

static int contains(const char *start, const char *end, const char *needle) {
    return memmem(start, (size_t)(end - start), needle, strlen(needle)) != NULL;
}

static Py_ssize_t count_lines(const char *start, const char *end) {
    Py_ssize_t lines = 0;
    const char *cursor = start;
    while (cursor < end) {
        const char *newline = memchr(cursor, '\n', (size_t)(end - cursor));
        if (newline == NULL) {
            return lines + 1; /* a last line without its newline */
        }
        lines++;
        cursor = newline + 1;
    }
    return lines;
}

static const char *skip_digits(const char *cursor, const char *end) {
    while (cursor < end && *cursor >= '0' && *cursor <= '9') {
        cursor++;
    }
    return cursor;
}

/* The header serial of each line that has one: the line's first '(' must end "audit(" and
   open SECONDS.MILLIS:SERIAL) (the regular expression \n[^\n(]*audit\(\d+\.\d+:(\d+)\) on
   the block after a newline). An audit(T:S) later in a line is message text, not a serial.
   Returns 1 if a serial is too long for us, -1 on error (exception set), 0 otherwise. */
static int collect_serials(const char *start, const char *end, Int64List *serials) {
    static const char mark[] = "audit";
    const size_t mark_length = sizeof(mark) - 1;
    const char *line = start;
    while (line < end) {
        const char *paren = memchr(line, '(', (size_t)(end - line));
        if (paren == NULL) {
            break;
        }
        /* The start of the line holding this '(' (it is the first '(' of that line). */
        const char *newline = memrchr(line, '\n', (size_t)(paren - line));
        if (newline != NULL) {
            line = newline + 1;
        }
        const char *next = memchr(paren, '\n', (size_t)(end - paren));
        const char *line_end = next != NULL ? next : end;
        const char *p = paren + 1;
        int header = (size_t)(paren - line) >= mark_length && memcmp(paren - mark_length, mark, mark_length) == 0;
        line = next != NULL ? next + 1 : end;
        if (!header) {
            continue;
        }
        const char *seconds = p;
        p = skip_digits(seconds, line_end);
        if (p == seconds || p >= line_end || *p != '.') {
            continue;
        }
        const char *millis = ++p;
        p = skip_digits(millis, line_end);
        if (p == millis || p >= line_end || *p != ':') {
            continue;
        }
        const char *digits = ++p;
        p = skip_digits(digits, line_end);
        if (p == digits || p >= line_end || *p != ')') {
            continue;
        }
        if (p - digits > MAX_SERIAL_DIGITS) {
            return 1;
        }
        int64_t value = 0;
        for (const char *d = digits; d < p; d++) {
            value = value * 10 + (*d - '0');
        }
        if (int64_list_append(serials, value) < 0) {
            return -1;
        }
    }
    return 0;
}

static PyObject *serials_result(const Int64List *serials) {
    int run = serials->length > 0;
    for (Py_ssize_t i = 1; run && i < serials->length; i++) {
        int64_t step = serials->items[i] - serials->items[i - 1];
        run = step == 0 || step == 1;
    }
    if (run) {
        return Py_BuildValue("(LL)", (long long)serials->items[0], (long long)serials->items[serials->length - 1]);
    }
    PyObject *list = PyList_New(serials->length);
    if (list == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < serials->length; i++) {
        PyObject *value = PyLong_FromLongLong((long long)serials->items[i]);
        if (value == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SetItem(list, i, value); /* steals value; cannot fail here */
    }
    return list;
}

static int compare_offsets(const void *left, const void *right) {
    int64_t a = *(const int64_t *)left, b = *(const int64_t *)right;
    return (a > b) - (a < b);
}

/* The lines holding a needle, each from its first needle on (see the top of this file). */
static PyObject *record_text(const char *start, const char *end, PyObject *needles) {
    Int64List hits = {NULL, 0, 0}; /* offsets of every needle occurrence */
    Py_ssize_t count = PyTuple_Size(needles);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *needle = PyTuple_GetItem(needles, i); /* borrowed */
        if (!PyBytes_Check(needle) || PyBytes_Size(needle) == 0) {
            PyMem_Free(hits.items);
            PyErr_SetString(PyExc_TypeError, "census() needles must be non-empty bytes");
            return NULL;
        }
        const char *text = PyBytes_AsString(needle);
        size_t length = (size_t)PyBytes_Size(needle);
        const char *cursor = start;
        while ((size_t)(end - cursor) >= length) {
            const char *hit = memmem(cursor, (size_t)(end - cursor), text, length);
            if (hit == NULL) {
                break;
            }
            if (int64_list_append(&hits, (int64_t)(hit - start)) < 0) {
                PyMem_Free(hits.items);
                return NULL;
            }
            cursor = hit + 1;
        }
    }
    if (count > 1 && hits.length > 1) {
        qsort(hits.items, (size_t)hits.length, sizeof(int64_t), compare_offsets);
    }
    /* Two rounds over the hits: measure, then copy into the new bytes object. */
    PyObject *result = NULL;
    char *out = NULL;
    for (int round = 0; round < 2; round++) {
        Py_ssize_t size = 0;
        const char *line_end = start; /* end of the last line taken */
        for (Py_ssize_t i = 0; i < hits.length; i++) {
            const char *hit = start + hits.items[i];
            if (hit < line_end) {
                continue; /* another needle of a line already taken */
            }
            const char *newline = memchr(hit, '\n', (size_t)(end - hit));
            line_end = newline != NULL ? newline : end;
            if (out != NULL) {
                memcpy(out + size, hit, (size_t)(line_end - hit));
                out[size + (line_end - hit)] = '\n';
            }
            size += (line_end - hit) + 1;
        }
        if (round == 0) {
            result = PyBytes_FromStringAndSize(NULL, size);
            if (result == NULL) {
                break;
            }
            out = PyBytes_AsString(result);
        }
    }
    PyMem_Free(hits.items);
    return result;
}

static PyObject *census(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *block = NULL, *needles = NULL;
    if (!PyArg_ParseTuple(args, "O!O!:census", &PyBytes_Type, &block, &PyTuple_Type, &needles)) {
        return NULL;
    }
    const char *start = PyBytes_AsString(block);
    const char *end = start + PyBytes_Size(block);
    if (contains(start, end, "type=DAEMON_") || contains(start, end, "callbacks suppressed")) {
        Py_RETURN_NONE;
    }
    Py_ssize_t lines = count_lines(start, end);
    Py_ssize_t marks = count_by_rare_byte(start, end, "SECCOMP", 7, 6) + count_occurrences(start, end, "type=1326", 9);
    Int64List serials = {NULL, 0, 0};
    int status = collect_serials(start, end, &serials);
    PyObject *result = NULL;
    if (status == 1) {
        Py_INCREF(Py_None);
        result = Py_None;
    } else if (status == 0) {
        PyObject *serial_part = serials_result(&serials);
        PyObject *text = NULL;
        if (serial_part != NULL) {
            if (PyTuple_Size(needles) == 0) {
                Py_INCREF(Py_None);
                text = Py_None;
            } else {
                text = record_text(start, end, needles);
            }
        }
        if (text != NULL) {
            result = Py_BuildValue("(nnNN)", lines, marks, serial_part, text);
        } else {
            Py_XDECREF(serial_part);
        }
    }
    PyMem_Free(serials.items);
    return result;
}

static PyMethodDef census_methods[] = {
    {"census", census, METH_VARARGS,
     "census(block: bytes, needles: tuple[bytes, ...]) -> (lines, marks, serials, record_text) or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef census_module = {
    PyModuleDef_HEAD_INIT, "kubectl_seccomp._census",
    "The census of a block of audit log lines in C (optional; see kubectl_seccomp.audit.census_block).", -1,
    census_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__census(void) { return PyModule_Create(&census_module); }
