// ncursesw for culvert-tui. NCURSES_WIDECHAR must be set before <curses.h> for the wide API.
#define NCURSES_WIDECHAR 1
#include <locale.h>
#include <curses.h>
