/*
 * client/desk/page_review.c - (being written)
 */
#include "desk_int.h"
