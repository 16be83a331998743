/*
 * client/desk/html.c - (being written)
 */
#include "desk_int.h"
