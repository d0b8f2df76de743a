/* Shared by hub's C accelerators (hub/log/_speedups.c, the sources' row codecs):
 * argument parsing for METH_FASTCALL | METH_KEYWORDS functions. Include after Python.h. */
#ifndef HUB_FASTCALL_H
#define HUB_FASTCALL_H

/* Positional and keyword arguments into out[0..nparams): the first nrequired required, the
   others NULL when not given. */
static int
parse_args_opt(const char *fname, const char *const *names, Py_ssize_t nparams,
               Py_ssize_t nrequired, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
               PyObject **out)
{
    Py_ssize_t i, k, nkw;

    if (nargs == nparams && !kwnames) {
        for (i = 0; i < nparams; i++)
            out[i] = args[i];
        return 0;
    }
    if (nargs > nparams) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd positional arguments but %zd were given",
                     fname, nparams, nargs);
        return -1;
    }
    for (i = 0; i < nparams; i++)
        out[i] = i < nargs ? args[i] : NULL;
    nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (k = 0; k < nkw; k++) {
        PyObject *kw = PyTuple_GET_ITEM(kwnames, k);
        for (i = 0; i < nparams; i++)
            if (PyUnicode_CompareWithASCIIString(kw, names[i]) == 0)
                break;
        if (i == nparams) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fname,
                         kw);
            return -1;
        }
        if (out[i]) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname,
                         names[i]);
            return -1;
        }
        out[i] = args[nargs + k];
    }
    for (i = 0; i < nrequired; i++) {
        if (!out[i]) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s' (pos %zd)", fname,
                         names[i], i + 1);
            return -1;
        }
    }
    return 0;
}

/* Positional and keyword arguments into out[0..nparams), all required. */
static inline int
parse_args(const char *fname, const char *const *names, Py_ssize_t nparams,
           PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, PyObject **out)
{
    return parse_args_opt(fname, names, nparams, nparams, args, nargs, kwnames, out);
}

/* a METH_FASTCALL | METH_KEYWORDS function in a PyMethodDef */
#define FASTCALL_KW(f) ((PyCFunction)(void (*)(void))(f))

#endif /* HUB_FASTCALL_H */
